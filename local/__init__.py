"""The local API: the real handlers behind an HTTP server, with an embedded DynamoDB (moto) by default."""
