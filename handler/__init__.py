"""route-counter Lambda handlers: counter.handler counts hits, listing.handler lists them (read-only).

Shipped to Lambda as this package alone. The listing uses the runtime's botocore; the counter writes
through handler/writer.py, by default with the standard library only (handler/lean.py).
"""
