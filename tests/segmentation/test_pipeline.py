"""Reading, compute and writing overlapped: order kept, errors from any stage raised, nothing left hanging."""

from __future__ import annotations

import threading

import pytest

from ocsge_processes.segmentation.pipeline import overlapped


def test_items_arrive_in_order_through_three_threads() -> None:
    written: list[int] = []
    threads: set[str] = set()

    def source():
        for item in range(50):
            threads.add(threading.current_thread().name)
            yield item

    overlapped(source(), lambda item: item * 2, written.append)
    assert written == [item * 2 for item in range(50)]
    assert threads == {"segmentation-reader"}


@pytest.mark.parametrize("stage", ["source", "compute", "sink"])
def test_the_first_error_of_any_stage_is_raised(stage: str) -> None:
    def fail_at(name: str, item: int) -> None:
        if stage == name and item == 7:
            raise ValueError(f"{name} broke")

    def source():
        for item in range(1000):
            fail_at("source", item)
            yield item

    def compute(item: int) -> int:
        fail_at("compute", item)
        return item

    before = threading.active_count()
    with pytest.raises(ValueError, match=f"{stage} broke"):
        overlapped(source(), compute, lambda item: fail_at("sink", item))
    assert threading.active_count() == before
