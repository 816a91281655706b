"""`make bench`: paired measurements of our handlers against a tutorial-style baseline, in one run."""
