"""Where a model's weights come from (``spec.model.source``), and the pure facts derived from
it: the parsed URI and the cache key. The renderer and the fetcher (``modelops fetch``) both
use these, so the pod's mounts and the files the fetcher writes always agree."""

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from pydantic import Field

from modelops.api.base import ApiModel, Quantity
from modelops.api.rules import Rule


class Scheme(StrEnum):
    PVC = "pvc"
    HTTPS = "https"
    S3 = "s3"
    HF = "hf"


# One pattern per scheme: a claim name (DNS-1123 subdomain) and a path; an https URL with a
# host; a bucket name (S3's rules) and a prefix; a Hub repo id (org/name).
URI_PATTERN = (
    r"^(pvc://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[^\s]*)?"
    r"|https://[A-Za-z0-9.\[\]:-]+(/[^\s]*)?"
    r"|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?"
    r"|hf://[A-Za-z0-9][-A-Za-z0-9_.]*/[A-Za-z0-9][-A-Za-z0-9_.]*)$"
)
SCHEME_CEL = "self.uri.matches('^(pvc|https|s3|hf)://')"
DEFAULT_MOUNT_PATH = "/models"
DEFAULT_HF_REVISION = "main"


class ModelCache(ApiModel):
    """A shared volume (a ReadWriteMany claim) that keeps downloaded models, keyed by URI and
    revision: replicas, restarts and canaries of the same model do not download it again."""

    claim_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="PersistentVolumeClaim (ReadWriteMany) that holds the cache.",
    )
    max_size: Quantity | None = Field(
        default=None,
        description=(
            "Before a download, the fetcher removes the least recently used models (other "
            "than the one it fetches) until the cache plus the new model fit in this size. "
            "No eviction when unset."
        ),
    )


def _scheme_of(uri: str) -> str:
    return uri.split("://", 1)[0]


def _only_for(field: str, attribute: str, *schemes: Scheme) -> Rule:
    """``field`` may be set only on sources of these schemes."""
    names = "|".join(scheme.value for scheme in schemes)
    shown = " and ".join(f"{scheme.value}://" for scheme in schemes)
    return Rule(
        cel=f"!has(self.{field}) || self.uri.matches('^({names})://')",
        message=f"{field} applies to {shown} sources only",
        check=lambda s: getattr(s, attribute) is None or _scheme_of(s.uri) in schemes,
        field_path=f".{field}",
    )


class ModelSource(ApiModel):
    """Model files that live apart from the image, fetched (or mounted) before the model
    container starts, and seen by it at ``mountPath`` (also given as ``$MODEL_DIR``)."""

    rules = (
        Rule(
            cel=SCHEME_CEL,
            message="uri scheme must be one of pvc://, https://, s3://, hf://",
            check=lambda s: _scheme_of(s.uri) in set(Scheme),
            field_path=".uri",
        ),
        Rule(
            cel="!self.uri.startsWith('s3://') || has(self.credentialsSecret)",
            message="an s3:// source needs credentialsSecret (keys AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY)",
            check=lambda s: _scheme_of(s.uri) != Scheme.S3 or s.credentials_secret is not None,
            field_path=".credentialsSecret",
        ),
        _only_for("credentialsSecret", "credentials_secret", Scheme.S3, Scheme.HF),
        _only_for("sha256", "sha256", Scheme.HTTPS),
        _only_for("revision", "revision", Scheme.HF),
        _only_for("endpoint", "endpoint", Scheme.S3, Scheme.HF),
        _only_for("region", "region", Scheme.S3),
        Rule(
            cel="!has(self.cache) || !self.uri.startsWith('pvc://')",
            message="a pvc:// source is mounted as it is; cache applies to downloads",
            check=lambda s: s.cache is None or _scheme_of(s.uri) != Scheme.PVC,
            field_path=".cache",
        ),
    )

    uri: str = Field(
        min_length=6,
        max_length=2048,
        pattern=URI_PATTERN,
        description=(
            "pvc://claim/path (mounted, no download), https://host/path/file (one file), "
            "s3://bucket/prefix (every object under the prefix), hf://org/model (a Hub repo)."
        ),
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[a-f0-9]{64}$",
        description="https: the file's SHA-256 (hex); a download that differs fails.",
    )
    revision: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9][-A-Za-z0-9_./]*$",
        description="hf: branch, tag or commit; main when unset. A new revision rolls out.",
    )
    endpoint: str | None = Field(
        default=None,
        max_length=512,
        pattern=r"^https?://[^\s]+$",
        description="s3: the S3-compatible endpoint URL. hf: a Hub mirror (HF_ENDPOINT).",
    )
    region: str | None = Field(
        default=None, max_length=64, pattern=r"^[a-z0-9-]+$", description="s3: the region."
    )
    credentials_secret: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description=(
            "Secret mounted only into the fetch init container. s3: keys AWS_ACCESS_KEY_ID, "
            "AWS_SECRET_ACCESS_KEY (AWS_SESSION_TOKEN optional). hf: key HF_TOKEN."
        ),
    )
    mount_path: str = Field(
        default=DEFAULT_MOUNT_PATH,
        max_length=256,
        pattern=r"^/[^:]*$",
        description="Where the model container sees the files; also given as $MODEL_DIR.",
    )
    cache: ModelCache | None = Field(
        default=None,
        description="Keep downloads on a shared volume; each pod downloads when unset.",
    )


@dataclass(frozen=True)
class ParsedUri:
    """A source URI taken apart: ``location`` is the claim, host, bucket or repo id;
    ``path`` what follows it (no leading slash)."""

    scheme: Scheme
    location: str
    path: str


def parse_uri(uri: str) -> ParsedUri:
    """Split a source URI; ``ValueError`` names what is wrong with one that does not parse."""
    if re.fullmatch(URI_PATTERN, uri) is None:
        scheme = _scheme_of(uri) if "://" in uri else ""
        if scheme not in set(Scheme):
            raise ValueError(f"{uri!r}: unknown scheme (pvc, https, s3, hf)")
        raise ValueError(f"{uri!r}: not a valid {scheme}:// URI")
    scheme, rest = uri.split("://", 1)
    if scheme == Scheme.HF:
        return ParsedUri(Scheme.HF, rest, "")
    location, _, path = rest.partition("/")
    return ParsedUri(Scheme(scheme), location, path)


def cache_key(source: ModelSource) -> str:
    """The cache directory of a source: the same URI and revision (and checksum) share it,
    anything else gets its own. Readable prefix, hash suffix."""
    parsed = parse_uri(source.uri)
    revision = source.revision or (DEFAULT_HF_REVISION if parsed.scheme is Scheme.HF else "")
    identity = "\n".join([source.uri, revision, source.endpoint or "", source.sha256 or ""])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9]+", "-", f"{parsed.location}-{parsed.path}").strip("-")
    return f"{parsed.scheme.value}-{readable[:80]}-{digest}"
