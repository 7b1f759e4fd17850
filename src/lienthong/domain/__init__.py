"""Pure model of the document exchange: agency codes, edXML packages, statuses, calendar.

Nothing in this package performs I/O; functions that depend on time take ``now``.
"""
