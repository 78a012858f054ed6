"""brain_transformer_pipeline: raw recordings -> transform service -> feature store.

- :mod:`brain_transformer_pipeline.pipeline`: ``run_pipeline(settings) -> PipelineReport``.
- :mod:`brain_transformer_pipeline.features`: the Parquet schema (see SCHEMA.md),
  ``load_features``, ``epochsets_from_frame``, ``feature_phases``.
"""
