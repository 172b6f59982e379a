"""The virtual-time barrier (broker/sync.py) on the in-memory broker: the same barrier and the
same ``BusClient`` code as on amqtt and Mosquitto, with no broker process. What happens at one
instant is handled in the instant's order (causal, then by publisher and its own order), and
time jumps only once everything published has been handled; a member's name (its client id's)
gives it the contract's rights, so deliveries are counted instead of proven by rounds."""

from __future__ import annotations

from hyperhome.broker.client import Message, MqttConnector
from hyperhome.broker.credentials import HomeCredentials
from hyperhome.broker.memory import MemoryBroker
from hyperhome.broker.sync import SyncBarrier
from hyperhome.broker.topics import Topics
from hyperhome.devices.clock import VirtualClock


async def test_one_instant_is_handled_in_the_barriers_order_then_time_moves() -> None:
    creds = HomeCredentials.generate("test", ["cam", "lock"])
    topics = Topics(creds.home)
    memory = MemoryBroker.serving([creds])
    clock = VirtualClock()
    async with clock, SyncBarrier(topics, memory, creds.clock) as barrier:
        clock.add_barrier(barrier)
        connect = MqttConnector(memory, barrier)
        seen: list[tuple[float, str, bytes]] = []

        def record(message: Message) -> None:
            seen.append((clock.now(), message.topic, message.payload))

        orchestrator = connect(creds.orchestrator, client_id="test.$orchestrator")
        await orchestrator.subscribe(topics.all_of("state"), record)
        async with orchestrator, connect(creds.device("lock")) as lock, connect(creds.device("cam")) as cam:
            t0 = clock.now()
            # published in this order at one instant: the order of the instant sorts by publisher
            await lock.publish(topics.state("lock"), b"1")
            await cam.publish(topics.state("cam"), b"1")
            await lock.publish(topics.state("lock"), b"2")
            await clock.sleep(5)
            assert seen == [
                (t0, topics.state("cam"), b"1"),
                (t0, topics.state("lock"), b"1"),
                (t0, topics.state("lock"), b"2"),
            ]
            assert clock.now() == t0 + 5
            # once every member has joined, arrival is proven by counting deliveries: no round
            rounds, proofs = barrier.rounds, barrier.counted_proofs
            await cam.publish(topics.state("cam"), b"2")
            await clock.sleep(5)
            assert seen[-1] == (t0 + 5, topics.state("cam"), b"2")
            assert barrier.rounds == rounds
            assert barrier.counted_proofs > proofs
