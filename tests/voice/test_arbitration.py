"""Wake arbitration as a pure function: who answers when several devices heard the wake word,
and which criterion decided (docs/voice.md, "Who answers")."""

from __future__ import annotations

from hyperhome.orchestrator.voice import Candidate, arbitrate

T0 = 1_782_925_200.0


def heard(
    device: str, kind: str | None, level_db: float, at: float = T0, *, zone: str | None = None, handled: bool = False
) -> Candidate:
    return Candidate(device, kind, level_db, at, "小爱同学，锁门", zone=zone, handled=handled)


def test_one_candidate_answers() -> None:
    only = heard("speaker", "speaker", 40)
    assert arbitrate([only]) == (only, "only_candidate")


def test_the_loudest_answers_whatever_arrived_first() -> None:
    speaker, phone = heard("speaker", "speaker", 58, T0), heard("phone", "phone", 66, T0 + 0.2)
    assert arbitrate([speaker, phone]) == (phone, "loudest")
    assert arbitrate([phone, speaker]) == (phone, "loudest")


def test_equal_to_a_tenth_of_a_decibel_the_first_heard_answers() -> None:
    phone, speaker = heard("phone", "phone", 60.04, T0), heard("speaker", "speaker", 60.0, T0 + 0.1)
    assert arbitrate([speaker, phone]) == (phone, "first_heard")
    assert arbitrate([heard("phone", "phone", 60.2), heard("speaker", "speaker", 60.0)])[1] == "loudest"


def test_same_level_same_instant_kind_priority_speaker_then_car_then_phone() -> None:
    speaker, phone = heard("speaker", "speaker", 60), heard("phone", "phone", 60)
    car = heard("car", "car", 60, zone="driver")
    laptop = heard("laptop", "laptop", 60)
    assert arbitrate([phone, car, speaker, laptop]) == (speaker, "kind_priority")
    assert arbitrate([phone, laptop, car]) == (car, "kind_priority")
    assert arbitrate([laptop, phone]) == (phone, "kind_priority")
    assert arbitrate([laptop, heard("x-unknown", None, 60)])[0] == laptop


def test_then_the_device_id_then_the_zone() -> None:
    kitchen, living = heard("kitchen-speaker", "speaker", 60), heard("living-speaker", "speaker", 60)
    assert arbitrate([living, kitchen]) == (kitchen, "device_id")
    rear, driver = heard("car", "car", 60, zone="rear_left"), heard("car", "car", 60, zone="driver")
    assert arbitrate([rear, driver]) == (driver, "zone")


def test_a_device_that_already_acted_wins_even_when_quieter() -> None:
    car = heard("car", "car", 52, T0 + 0.1, zone="rear_left", handled=True)
    phone = heard("phone", "phone", 70)
    assert arbitrate([phone, car]) == (car, "handled_locally")
