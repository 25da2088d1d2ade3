"""One sweep pass's view of each workspace: where to post, which account, or left out.

Shared by the sweep's steps (retention and notices in bot/pins/expiry.py, the audit in
bot/pins/audit.py): a workspace is looked up once per pass, and once left out (pinbot no
longer installed, Slack unreachable, its pinning service failing) its remaining pins wait for
the next pass, so one workspace's outage neither holds back the others nor is asked again for
every one of its pins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.errors import SlackClientError

from ..slack.clients import SlackClients, Workspace
from ..w3ipfs import W3IPFSClient, W3IPFSError
from .accounts import Accounts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PassTeam:
    workspace: Workspace
    #: The workspace's pinning account, once asked for (`PassTeams.with_account`).
    account: W3IPFSClient | None = None


class PassTeams:
    def __init__(self, slack: SlackClients, accounts: Accounts, *, step: str) -> None:
        self.slack = slack
        self.accounts = accounts
        #: The step's name, for its log lines ("sweep", "audit").
        self.step = step
        self._teams: dict[str, PassTeam | None] = {}

    async def workspace(self, team_id: str) -> PassTeam | None:
        """The workspace (its Slack client), or None when it is left out for this pass."""
        if team_id in self._teams:
            return self._teams[team_id]
        team = None
        try:
            workspace = await self.slack.workspace(team_id)
        except (SlackClientError, OSError) as exc:
            log.warning("%s: Slack is unreachable for team %s (%s); its pins wait for the "
                        "next sweep", self.step, team_id, type(exc).__name__)
        else:
            if workspace is None:
                log.info("%s: pinbot is no longer installed in team %s; its pins are left "
                         "as they are", self.step, team_id)
            else:
                team = PassTeam(workspace)
        self._teams[team_id] = team
        return team

    async def with_account(self, team_id: str) -> PassTeam | None:
        """The workspace and its pinning account (its own keys, or the environment's)."""
        team = await self.workspace(team_id)
        if team is None or team.account is not None:
            return team
        try:
            account = await self.accounts.client_for(team_id)
        except W3IPFSError as exc:
            self.leave(team_id, exc)
            return None
        team = self._teams[team_id] = PassTeam(team.workspace, account)
        return team

    def leave(self, team_id: str, exc: W3IPFSError) -> None:
        """The team's pinning service failed: skip its pins for the rest of this pass."""
        log.warning("%s: the pinning service failed for team %s (%s); its pins wait for the "
                    "next sweep", self.step, team_id, exc)
        self._teams[team_id] = None
