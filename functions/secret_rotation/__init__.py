"""MOD-045's secret rotation functions (deployment sequence, step 0.3: "secret rotation lambdas").

Plain Python the Lambda runtime runs (boto3 and the standard library only). `protocol` is Secrets Manager's
four-step rotation protocol; each other module rotates one kind of secret and is one Lambda function, whose
handler is `secret_rotation.<module>.handler`. The kinds, and which secrets use them, are listed in
model/secrets_manifest.py (ROTATION_FUNCTIONS) and catalogue/secrets.yaml.
"""
