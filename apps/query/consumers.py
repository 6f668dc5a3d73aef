"""Live job status over a WebSocket: ws/query/jobs/ (optionally ?job=<id> for one job).

With Redis the workers push to the owner's group; with the embedded in-memory
layer nothing crosses processes, so the consumer polls the database every second.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from apps.uws import phases

from . import live
from .models import QueryJob
from .permissions import access_job


class JobStatusConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        user = self.scope.get("user")
        query = parse_qs(self.scope.get("query_string", b"").decode())
        self.job_id: str | None = (query.get("job") or [None])[0]
        self.owner_id: int | None = user.pk if user is not None and user.is_authenticated else None
        if self.job_id:
            job = await database_sync_to_async(self._job)(user)
            if job is None:
                await self.close(code=4404)
                return
            self.owner_id = job.owner_id
        elif self.owner_id is None:
            await self.close(code=4401)
            return
        self.seen: dict[str, tuple[Any, ...]] = {}
        self.poller: asyncio.Task[None] | None = None
        await self.accept()
        if live.cross_process() and self.owner_id is not None:
            await self.channel_layer.group_add(live.group_name(self.owner_id), self.channel_name)
        # Poll in any case without Redis; with Redis, a slow poll catches what a lost push missed.
        self.poller = asyncio.create_task(self._poll(1.0 if not live.cross_process() else 10.0))

    def _job(self, user: Any) -> QueryJob | None:
        try:
            return access_job(user, self.job_id or "")
        except Exception:
            return None

    async def disconnect(self, code: int) -> None:
        poller = getattr(self, "poller", None)
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if live.cross_process() and getattr(self, "owner_id", None) is not None:
            await self.channel_layer.group_discard(live.group_name(self.owner_id), self.channel_name)

    async def job_status(self, event: dict[str, Any]) -> None:
        """A push from a worker or an action."""
        status = event["job"]
        if self.job_id and status["id"] != self.job_id:
            return
        self.seen[status["id"]] = (status["phase"], status["row_count"])
        await self.send_json(status)

    def _changed(self) -> list[dict[str, Any]]:
        recent = timezone.now() - timedelta(minutes=10)
        jobs = QueryJob.objects.filter(pk=self.job_id) if self.job_id else QueryJob.objects.filter(owner_id=self.owner_id)
        watched = [key for key, (phase, _) in self.seen.items() if phase not in phases.FINAL][:200]
        jobs = jobs.filter(phase__in=[*phases.ACTIVE, phases.PENDING]) | jobs.filter(end_time__gte=recent) | jobs.filter(pk__in=watched)
        out = []
        for job in jobs.distinct()[:200]:
            key = (job.phase, job.row_count)
            if self.seen.get(str(job.id)) != key:
                self.seen[str(job.id)] = key
                out.append(live.job_status(job))
        return out

    async def _poll(self, every: float) -> None:
        while True:
            for status in await database_sync_to_async(self._changed)():
                await self.send_json(status)
            await asyncio.sleep(every)
