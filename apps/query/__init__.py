"""Query jobs, queues, MyDB, results and downloads, and the query pages.

Entry points for other apps (the TAP service): ``actions`` (do_create_job, do_run_job,
do_abort_job, do_delete_job, do_update_job, do_rename_result, do_drop_result, run_sync,
result_batches), ``permissions`` (access_job, jobs_for), ``uploads.Upload``; responses are
streamed with apps.core.streaming.streaming_response.

A job's life: do_create_job (PENDING) -> do_run_job plans it (planning.py: catalogue of the
user + MyDB + uploads, engine choice, translation; a bad query ends in ERROR here) -> QUEUED and
sent to Celery on commit -> workers/query.py claims it with one conditional UPDATE and runs it
(execution.py: heartbeat, engine-enforced time limit, quota, result stored in the owner's MyDB)
-> COMPLETED/ERROR/ABORTED, pushed to open pages (live.py, consumers.py). A reaper in every
worker ends jobs whose worker died and re-sends queued jobs the broker lost.
"""
