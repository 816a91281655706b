"""route-counter Lambda handlers: counter.handler counts hits, listing.handler lists them (read-only).

Shipped to Lambda as this package alone; boto3/botocore come from the Lambda runtime.
"""
