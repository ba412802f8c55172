"""The seams between stages: the usage event, the consumer interface, the error classes, and money for people.

Every package imports these; they import nothing of the project.
"""
