"""Web: events in, responses out (API Gateway proxy events, responses and CORS, the dashboard page and the
badge, the metrics line an answer makes). No DynamoDB. Imports rules only."""
