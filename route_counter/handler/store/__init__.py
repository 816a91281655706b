"""Store: requests to AWS's stores (the writer seam and its outcomes, the lean writer and its SigV4, the
botocore edge, the listing's queries, S3 presigning for downloads). No HTTP answers. Imports rules and
handler.clock (the one seam of time) only."""
