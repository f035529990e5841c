"""The same M/M/c+M call center in SimPy and in ciw, as small as each allows: the yardsticks of
the simulation section. Each returns (calls offered, answered, abandoned)."""

import random


def simpy_model(operators, calls_per_second, handle_time, patience, duration, seed):
    """SimPy: a Resource of operators; a caller waits for one or for its patience, whichever
    comes first, then talks for the handle time."""
    import simpy

    env = simpy.Environment()
    agents = simpy.Resource(env, capacity=operators)
    rng = random.Random(seed)
    counts = [0, 0, 0]

    def caller():
        with agents.request() as request:
            outcome = yield request | env.timeout(rng.expovariate(1.0 / patience))
            if request in outcome:
                counts[1] += 1
                yield env.timeout(rng.expovariate(1.0 / handle_time))
            else:
                counts[2] += 1

    def arrivals():
        while True:
            yield env.timeout(rng.expovariate(calls_per_second))
            if env.now >= duration:
                return
            counts[0] += 1
            env.process(caller())

    env.process(arrivals())
    env.run()
    return tuple(counts)


def ciw_model(operators, calls_per_second, handle_time, patience, duration, seed):
    """ciw: one node with ``operators`` servers and reneging after an exponential patience."""
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(calls_per_second)],
        service_distributions=[ciw.dists.Exponential(1.0 / handle_time)],
        number_of_servers=[operators],
        reneging_time_distributions=[ciw.dists.Exponential(1.0 / patience)],
    )
    ciw.seed(seed)
    simulation = ciw.Simulation(network)
    simulation.simulate_until_max_time(duration)
    records = simulation.get_all_records()
    answered = sum(1 for record in records if record.record_type == "service")
    abandoned = sum(1 for record in records if record.record_type == "renege")
    return answered + abandoned, answered, abandoned
