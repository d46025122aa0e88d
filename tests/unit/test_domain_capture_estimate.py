"""Doctor's estimate of what capture costs in Salesforce API calls a day."""

from stripe2sf.domain.capture.estimate import capture_check

OBJECTS = ["Account", "Contact", "Opportunity"]


def test_cdc_costs_no_api_calls_per_change():
    check = capture_check("cdc", OBJECTS, poll_seconds=60, api_share=0.05, daily_limit=100_000)
    assert check.ok and "no REST API calls per change" in check.detail


def test_polling_estimate_names_the_interval_and_calls_a_day():
    check = capture_check("poll", OBJECTS, poll_seconds=60, api_share=0.05, daily_limit=100_000)
    assert check.ok
    # one Composite call a round for three objects, a round a minute: 1,440 calls, 1.4 %
    assert "a round every 60 s" in check.detail and "about 1,440 calls a day" in check.detail
    assert "1.4% of the org's 100,000 daily calls" in check.detail
    tight = capture_check("poll", OBJECTS, poll_seconds=1, api_share=0.01, daily_limit=15_000)
    assert "a round every 576 s" in tight.detail and "about 150 calls a day" in tight.detail


def test_polling_without_a_share_fails_with_the_fix():
    check = capture_check("poll", OBJECTS, poll_seconds=60, api_share=0, daily_limit=15_000)
    assert not check.ok and "STRIPE2SF_POLL_API_SHARE" in check.fix


def test_off_says_how_to_turn_it_on():
    assert (
        "STRIPE2SF_CAPTURE"
        in capture_check("off", OBJECTS, poll_seconds=60, api_share=0.05, daily_limit=None).detail
    )
