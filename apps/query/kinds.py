"""Activity kinds of the query app beyond those in apps/activity/kinds.py."""

from apps.activity.kinds import QUERY_FINISHED, QUERY_SUBMITTED

QUERY_ABORTED = "query.aborted"
QUERY_DELETED = "query.deleted"
QUERY_RENAMED = "query.renamed"
TABLE_IMPORTED = "query.imported"
PUBLICATION_REQUESTED = "query.publication_requested"
PUBLICATION_DECIDED = "query.publication_decided"

__all__ = [
    "PUBLICATION_DECIDED", "PUBLICATION_REQUESTED", "QUERY_ABORTED", "QUERY_DELETED", "QUERY_FINISHED", "QUERY_RENAMED", "QUERY_SUBMITTED", "TABLE_IMPORTED",
]
