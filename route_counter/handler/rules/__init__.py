"""Rules: pure functions and data (routes, limits, buckets, visitors, links, countries, schema, settings, and
`update`, what one write changes). No I/O, no HTTP, no clock reads. Imports nothing of ours but rules."""
