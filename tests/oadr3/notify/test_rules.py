"""The pure notification rules: core messages, privacy, filters, backoff, topics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.oadr3.notify.callbacks import CallbackPolicy, CallbackRefused, check_url
from gateway.oadr3.notify.rules import (
    Callback,
    ObjectType,
    Operation,
    RetryPolicy,
    Subject,
    Subscriber,
    callbacks_for,
    core_change,
    topics_of,
)

HOOK = Callback(
    frozenset(ObjectType), frozenset({Operation.CREATE, Operation.UPDATE}), "https://h/x", None
)


def _subscriber(**kw: object) -> Subscriber:
    values: dict[str, object] = {
        "client_id": "c1",
        "business": False,
        "ven_id": "v1",
        "program_id": None,
        "callbacks": (HOOK,),
        "targets": (),
    }
    values.update(kw)
    return Subscriber(**values)  # type: ignore[arg-type]


def test_core_messages_map_to_3x_object_operations() -> None:
    change = core_change({"event": "program_deleted", "program_id": "p", "message_id": "m"})
    assert change is not None
    assert (change.object_type, change.operation, change.object_id, change.key) == (
        ObjectType.PROGRAM, Operation.DELETE, "p", "m",
    )  # fmt: skip
    assert core_change({"event": "event_progress", "event_id": "e", "message_id": "m"}) is None
    assert core_change({"event": "program_created", "message_id": "m"}) is None  # no id
    invitation = core_change(
        {"event": "invitation_created", "invitation_id": "i", "message_id": "m"}
    )
    assert invitation is not None
    assert invitation.object_type is ObjectType.EVENT


def test_a_ven_subscriber_hears_of_what_it_may_see_only() -> None:
    targeted = Subject(ObjectType.EVENT, {"id": "e"}, program_id="p", ven_ids=frozenset({"v2"}))
    for_all = Subject(ObjectType.EVENT, {"id": "e"}, program_id="p", ven_ids=None)
    other_sub = Subject(ObjectType.SUBSCRIPTION, {"id": "s"}, owner_client_id="c2")
    assert callbacks_for(_subscriber(), targeted, Operation.CREATE) == []
    assert callbacks_for(_subscriber(), for_all, Operation.CREATE) == [HOOK]
    assert callbacks_for(_subscriber(ven_id="v2"), targeted, Operation.CREATE) == [HOOK]
    assert callbacks_for(_subscriber(), other_sub, Operation.CREATE) == []
    assert callbacks_for(_subscriber(business=True, ven_id=None), targeted, Operation.CREATE) == [
        HOOK
    ]


def test_program_targets_operations_and_broken_filter() -> None:
    subject = Subject(ObjectType.PROGRAM, {"id": "p", "targets": ["g1"]}, program_id="p")
    assert callbacks_for(_subscriber(program_id="q"), subject, Operation.UPDATE) == []
    assert callbacks_for(_subscriber(program_id="p"), subject, Operation.UPDATE) == [HOOK]
    assert callbacks_for(_subscriber(targets=("g2",)), subject, Operation.UPDATE) == []
    assert callbacks_for(_subscriber(targets=("g1", "g2")), subject, Operation.UPDATE) == [HOOK]
    assert callbacks_for(_subscriber(), subject, Operation.DELETE) == []  # not subscribed
    assert callbacks_for(_subscriber(), subject, Operation.READ) == []
    assert callbacks_for(_subscriber(broken=True), subject, Operation.UPDATE) == []


def test_backoff_doubles_up_to_its_cap_then_the_callback_is_broken() -> None:
    policy = RetryPolicy(timedelta(seconds=1), timedelta(seconds=10), broken_after=5)
    assert [policy.delay(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.delay(10_000) == timedelta(seconds=10)
    assert not policy.is_broken(4)
    assert policy.is_broken(5)


def test_topics_of_an_event_include_its_program_and_its_vens() -> None:
    subject = Subject(ObjectType.EVENT, {"id": "e"}, program_id="p", ven_ids=frozenset({"v1"}))
    assert topics_of(subject, "e", Operation.CREATE, ["v1", "v2"]) == [
        "events/create",
        "programs/p/events/create",
        "vens/v1/events/create",
        "vens/v2/events/create",
    ]
    program = Subject(ObjectType.PROGRAM, {"id": "p"}, program_id="p")
    assert topics_of(program, "p", Operation.CREATE, []) == ["programs/create"]
    assert topics_of(program, "p", Operation.DELETE, []) == ["programs/delete", "programs/p/delete"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/h", "https"),
        ("ftp://example.com/h", "https"),
        ("https:///h", "host"),
        ("https://u:p@example.com/h", "credentials"),
        ("https://127.0.0.1/h", "private"),
        ("https://10.1.2.3/h", "private"),
        ("https://[::1]/h", "private"),
        ("https://169.254.169.254/latest", "private"),
        ("https://[::ffff:192.168.0.1]/h", "private"),
    ],
)
def test_callback_urls_refused(url: str, why: str) -> None:
    with pytest.raises(CallbackRefused, match=why):
        check_url(url, CallbackPolicy())


def test_callback_urls_allowed() -> None:
    assert check_url("https://example.com/h?x=1", CallbackPolicy()).host == "example.com"
    assert check_url("https://8.8.8.8/h", CallbackPolicy()).host == "8.8.8.8"
    loose = CallbackPolicy(allow_http=True, allow_private=True)
    assert check_url("http://127.0.0.1:9/h", loose).port == 9
