"""MOD-046's just-in-time database access, the database side (deployment sequence, step 0.4).

Neon has no IAM database authentication, so "just-in-time database access via AWS IAM" is a Lambda function that
the JIT role (foundation/dba_access_control.py) may invoke: `bank-{env}-jit-db-access`, handler
`jit_db_access.handler.jit_access`; its break-glass variant `bank-{env}-break-glass-db-access`, handler
`jit_db_access.handler.break_glass_access`. Plain Python the Lambda runtime runs, with boto3 and psycopg.
"""
