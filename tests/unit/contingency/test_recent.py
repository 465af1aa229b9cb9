from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from contingency.recent import RecentIds

# Each step adds an id (drawn from a small alphabet, so ids recur after leaving the window) to one of the windows
# made so far (usually the newest, sometimes an older one: a fork, as when a batch is handled again).
steps = st.lists(st.tuples(st.sampled_from("abcdefghij"), st.integers(min_value=0, max_value=40)), max_size=120)


@given(steps, st.integers(min_value=1, max_value=6))
def test_every_window_stays_what_a_tuple_would_be(plan, keep) -> None:
    windows = [RecentIds()]
    models: list[tuple[str, ...]] = [()]
    for id_, back in plan:
        i = max(0, len(windows) - 1 - (back if back < 8 else 0))
        windows.append(windows[i].adding(id_, keep))
        models.append((models[i] + (id_,))[-keep:])
        for window, model in zip(windows, models):  # a later addition changes no window made before it
            assert tuple(window) == model and len(window) == len(model)
            assert all((c in window) == (c in model) for c in "abcdefghijk")
            assert window[-1:] == model[-1:] and window[1:3] == model[1:3]
            if model:
                assert window[0] == model[0] and window[-1] == model[-1]


def test_a_window_answers_for_its_own_ids_only() -> None:
    ids = RecentIds()
    for n in range(10):
        ids = ids.adding(f"id-{n}", keep=4)
    assert list(ids) == ["id-6", "id-7", "id-8", "id-9"]
    assert "id-5" not in ids and "id-6" in ids and ids == ("id-6", "id-7", "id-8", "id-9")


class Book(BaseModel):
    applied: RecentIds = RecentIds()


def test_a_book_validates_and_dumps_it_as_a_list() -> None:
    book = Book.model_validate({"applied": ["a", "b"]})
    assert isinstance(book.applied, RecentIds) and "b" in book.applied
    assert book.model_dump(mode="json") == {"applied": ["a", "b"]}
    assert Book.model_validate_json(book.model_dump_json()) == book
    same = RecentIds(["x"])
    assert Book(applied=same).applied is same, "an instance is taken as it is: no copy per input"
