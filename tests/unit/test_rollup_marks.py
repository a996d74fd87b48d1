"""When a refresh's mark of the rollups counts as reached (usecases/rollups.py `settle`):
only once every transaction running when it was taken has ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pegada.usecases.rollups import MAX_PENDING, Mark, settle

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def mark(seconds: int, page_view: int, submission: int = 0) -> Mark:
    return Mark(T0 + timedelta(seconds=seconds), page_view, submission)


def test_marks_taken_before_the_oldest_running_transaction_are_reached() -> None:
    pending = [mark(0, 10, 1), mark(5, 20, 2), mark(9, 30, 3)]
    reached, waiting = settle((4, 0), pending, T0 + timedelta(seconds=6))
    assert reached == (20, 2)
    assert waiting == [mark(9, 30, 3)]


def test_a_transaction_older_than_every_mark_holds_them_all() -> None:
    pending = [mark(0, 10), mark(5, 20)]
    assert settle((4, 0), pending, T0 - timedelta(seconds=1)) == ((4, 0), pending)


def test_nothing_waits_when_writers_take_turns() -> None:
    """SQLite: what a refresh saw is every row there is."""
    assert settle((0, 0), [mark(0, 10, 1), mark(5, 20, 2)], None) == ((20, 2), [])


def test_reached_never_goes_back_and_the_waiting_list_is_bounded() -> None:
    assert settle((50, 9), [mark(0, 10, 1)], None) == ((50, 9), [])
    many = [mark(n, n) for n in range(MAX_PENDING + 10)]
    reached, waiting = settle((0, 0), many, T0 - timedelta(seconds=1))
    assert reached == (0, 0)
    assert waiting == many[-MAX_PENDING:]


def test_marks_round_trip_through_json() -> None:
    item = mark(3, 7, 8)
    assert Mark.from_json(item.as_json()) == item
