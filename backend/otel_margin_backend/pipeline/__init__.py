"""The seams between stages: the usage event every stage passes on, the errors they raise, and money for people."""
