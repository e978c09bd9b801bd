"""A local stand-in for the Hugging Face Hub (unreachable here), serving the Hub's file
layout to the real ``huggingface_hub`` client: the repo info and tree APIs and the
``resolve`` URLs, with a commit per revision, ETags, ranged GETs, private repos that need a
token, and a request log."""

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.stores import serving


@dataclass
class HubRepo:
    files: dict[str, bytes]
    revisions: dict[str, str]  # branch or tag -> commit
    token: str | None = None  # a private repo: only this bearer token may read it


@dataclass
class FakeHub:
    url: str
    repos: dict[str, HubRepo]
    requests: list[str] = field(default_factory=list)

    def file_gets(self, repo_id: str) -> list[str]:
        return [r for r in self.requests if r.startswith(f"GET /{repo_id}/resolve/")]


def _commit_of(repo: HubRepo, revision: str) -> str | None:
    if revision in repo.revisions.values():
        return revision
    return repo.revisions.get(revision)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def _error(self, status: int, code: str, message: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _json(self, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _repo(self, repo_id: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            auth = self.headers.get("Authorization")
            if repo is None or (repo.token is not None and auth != f"Bearer {repo.token}"):
                self._error(401, "RepoNotFound", "Repository not found")
                return None
            return repo

        def _api(self, repo_id: str, kind: str, revision: str) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            commit = _commit_of(repo, revision)
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                return
            if kind == "revision":
                siblings = [{"rfilename": name} for name in repo.files]
                self._json({"id": repo_id, "sha": commit, "siblings": siblings, "private": False})
                return
            self._json(
                [
                    {
                        "type": "file",
                        "path": name,
                        "size": len(data),
                        "oid": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                    }
                    for name, data in repo.files.items()
                ]
            )

        def _resolve(self, repo_id: str, revision: str, name: str, body: bool) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            commit = _commit_of(repo, revision)
            if commit is None or name not in repo.files:
                self._error(404, "EntryNotFound", f"{name} not found")
                return
            data = repo.files[name]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and body:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", f'"{hashlib.sha1(data, usedforsecurity=False).hexdigest()}"')
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if body:
                self.wfile.write(data[start:])

        def _route(self, body: bool) -> None:
            hub.requests.append(f"{self.command} {self.path}")
            path = self.path.split("?", 1)[0]
            api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/([^/]+)(/.*)?", path)
            if api:
                self._api(api.group(1), api.group(2), api.group(3))
                return
            resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if resolve:
                self._resolve(resolve.group(1), resolve.group(2), resolve.group(3), body)
                return
            self._error(404, "NotFound", path)

        def do_GET(self) -> None:
            self._route(body=True)

        def do_HEAD(self) -> None:
            self._route(body=False)

    return Handler


@contextmanager
def fake_hub(repos: dict[str, HubRepo], host: str = "127.0.0.1") -> Iterator[FakeHub]:
    httpd = ThreadingHTTPServer((host, 0), BaseHTTPRequestHandler)
    hub = FakeHub(f"http://{host}:{httpd.server_address[1]}", repos)
    httpd.RequestHandlerClass = _handler(hub)
    with serving(httpd):
        yield hub
