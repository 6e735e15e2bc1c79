"""zonechain.benchmarks — workloads and peer comparisons behind `zonechain bench`."""
