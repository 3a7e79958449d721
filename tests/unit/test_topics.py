"""Topic names, the catalogue, and pattern matching for --topics options."""

from __future__ import annotations

import pytest

from tickmesh import topics


def test_catalogue_holds_market_system_and_each_namespaces_topics() -> None:
    names = topics.catalogue(["paper", "shadow"])

    assert "market.bars.1m" in names
    assert "system.dlq" in names
    assert "paper.orders.events" in names
    assert "shadow.signals.raw" in names
    assert len(names) == len(set(names))


def test_wildcard_pattern_expands_against_the_catalogue_in_order_without_repeats() -> None:
    chosen = topics.match(["market.bars.*", "market.bars.1m", "paper.orders.*"])

    assert chosen[:2] == ["market.bars.1m", "market.bars.5m"]
    assert chosen.count("market.bars.1m") == 1
    assert chosen[-1] == "paper.orders.events"


def test_exact_name_outside_the_catalogue_is_taken_as_given() -> None:
    assert topics.match(["custom.feed"]) == ["custom.feed"]


def test_wildcard_matching_nothing_is_an_error_listing_known_topics() -> None:
    with pytest.raises(ValueError, match=r"matches no known topic; known: market\.ticks"):
        topics.match(["markt.*"])
