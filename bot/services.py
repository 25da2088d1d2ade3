"""The services a running bot shares: one pinning client (one pool), one downloader, the job
runner and the use cases. Built once per process from settings; injected into the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from .dedupe import TTLSet
from .jobs import InProcessJobs
from .pinning import DAY, PinService
from .settings import Settings
from .slack_files import SlackDownloader
from .w3ipfs import W3IPFSClient


@dataclass
class Services:
    settings: Settings
    w3ipfs: W3IPFSClient
    downloader: SlackDownloader
    pins: PinService
    jobs: InProcessJobs
    events: TTLSet = field(default_factory=lambda: TTLSet(DAY))

    @classmethod
    def from_settings(cls, settings: Settings, w3ipfs: W3IPFSClient | None = None) -> Services:
        settings.require("slack_bot_token", "w3ipfs_api_key", "w3ipfs_secret_key")
        assert settings.slack_bot_token is not None
        client = w3ipfs or W3IPFSClient.from_settings(
            settings, max_connections=max(8, settings.concurrency * 2)
        )
        downloader = SlackDownloader(settings.slack_bot_token, settings.download_hosts)
        return cls(
            settings=settings,
            w3ipfs=client,
            downloader=downloader,
            pins=PinService(settings, client, downloader),
            jobs=InProcessJobs(settings.concurrency),
        )

    async def aclose(self) -> None:
        await self.jobs.aclose()
        await self.downloader.aclose()
        await self.w3ipfs.aclose()
