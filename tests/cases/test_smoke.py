from tests.factories import Api, snapshot


def test_create_and_notify(api: Api) -> None:
    case = api.create_case()
    assert case["reference"] == "TW-2026-0001"
    assert case["state"] == "referred"
    before = snapshot(case["id"])
    after = api.ok(case["id"], "notify_panel", {"notified_on": "2026-06-12"})
    assert after["state"] == "rapid_review"
    assert after["version"] == 2
    later = snapshot(case["id"])
    assert later["case"]["state"] == "rapid_review"
    assert len(later["events"]) == len(before["events"]) + 1


def test_the_case_names_its_own_partnership(api: Api) -> None:
    tw = api.create_case(partnership="TW")
    ot = api.create_case(partnership="OT")
    assert (tw["partnership"], tw["reference"]) == ("TW", "TW-2026-0001")
    assert (ot["partnership"], ot["reference"]) == ("OT", "OT-2026-0001")
