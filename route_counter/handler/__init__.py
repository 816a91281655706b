"""route-counter Lambda handlers: counter.handler counts hits, listing.handler lists them (read-only).

Shipped to Lambda as this package alone. The entry points (counter.py, listing.py) compose three kinds of
code: rules/ (pure), web/ (events and answers) and store/ (AWS requests); clock.py is the one seam of
time the tests move. The listing uses the runtime's botocore; the counter writes through
handler/store/writer.py, by default with the standard library only (handler/store/lean.py).
"""
