"""Benchmarks of the curation pipeline and the Spatial AV-Align metric; run each as a module from the repository
root (`python -m benchmarks.bench_curate`, `python -m benchmarks.bench_av_align`), see README.md here."""
