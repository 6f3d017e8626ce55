"""What phase gates run at deploy time (boto3, HTTP, SQL). No Pulumi imports."""
