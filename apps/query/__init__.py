"""Query jobs, queues, MyDB, results and downloads, and the query pages.

Entry points for other apps (the TAP service): ``actions`` (do_create_job, do_run_job,
do_abort_job, do_delete_job, do_update_job, do_rename_result, do_drop_result, run_sync,
result_batches), ``permissions`` (access_job, jobs_for), ``uploads.Upload``; responses are
streamed with apps.core.streaming.streaming_response.

A job's life: do_create_job (PENDING) -> do_run_job plans it (planning.py: catalogue of the
user + MyDB + uploads, engine choice, translation; a bad query ends in ERROR here) -> QUEUED and
sent to Celery on commit -> a worker claims it with one conditional UPDATE and runs it
(workers/query_execution.py: heartbeat, engine-enforced time limit, quota, result stored in the
owner's MyDB) -> COMPLETED/ERROR/ABORTED, each change of phase through an action here
(do_claim_job, do_finish_job, do_end_lost_job), pushed to open pages (live.py, consumers.py).
A reaper in every worker ends jobs whose worker died and re-sends queued jobs the broker lost.
The web process and workers share running.py (uploads into an engine, TAP_SCHEMA queries).

Sharing (sharing.py): a stored result of a user has an access.Resource of type "result" (made
in actions.do_finish_job, renamed and deleted with the table; migration 0005 for older rows). Its
owner shares it in /access/resources/<id>/share: "read" opens the job page, viewer, plots and
downloads (permissions.access_readable_job); "query" puts it in the catalogue of the grantee
as ``mydb_<owner username>.<table>`` (planning.shared_tables), on the engine that stores it.
Quotas (quotas.py): per user, else the largest of their groups', else the default; the job
list shows usage against it (quotas.usage).
"""
