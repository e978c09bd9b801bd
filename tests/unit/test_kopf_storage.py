"""kopf's record of the last handled object: a digest, small whatever the spec's size, that
moves when the spec or the user's labels and annotations do and not with kopf's own."""

import json

import kopf

from modelops.kopf_storage import DigestDiffBaseStorage


def storage() -> DigestDiffBaseStorage:
    return DigestDiffBaseStorage(prefix="modelops.dev", key="last-handled-configuration")


def body(spec: dict[str, object], annotations: dict[str, str] | None = None) -> kopf.Body:
    raw = {
        "apiVersion": "modelops.dev/v1alpha1",
        "kind": "ModelService",
        "metadata": {"name": "m", "namespace": "n", "annotations": annotations or {}},
        "spec": spec,
        "status": {"phase": "Stable"},
    }
    return kopf.Body(raw)


def test_digest_is_small_for_a_large_spec_and_follows_the_spec() -> None:
    big = {"podTemplate": {"annotations": {"big": "y" * 300_000}}}
    essence = storage().build(body=body(big))
    assert len(json.dumps(essence)) < 200
    assert essence == storage().build(body=body(big))
    assert essence != storage().build(body=body({"replicas": 2}))


def test_kopf_bookkeeping_and_status_do_not_move_it() -> None:
    marker = {"modelops.dev/kopf-managed": "yes"}
    before = storage().build(body=body({"replicas": 2}, marker))
    progress = {**marker, "modelops.dev/model_service_changed": '{"retries": 1}'}
    assert storage().build(body=body({"replicas": 2}, progress)) == before
    user = {**marker, "team": "nlp"}
    assert storage().build(body=body({"replicas": 2}, user)) != before
