"""brain_data: BRAIN's versioned data, the raw store and the feature store.

- :mod:`brain_data.raw`: ``init_raw_repo``, ``ingest_once`` (spool -> raw DVC repository),
  ``raw_status``, ``committed_recordings``, ``committed_labels``, the quarantine.
- :mod:`brain_data.features`: ``init_feature_repo``, ``commit_features``,
  ``read_watermark``, ``feature_status``.
- :mod:`brain_data.labels`: ``write_label`` / ``read_label``, the only way labels enter or
  leave the raw repository (encrypted at rest; keys in :mod:`brain_data.label_keys`).
- :mod:`brain_data.forget`: ``forget_subject``, behind ``brain forget SUBJECT``.
- :mod:`brain_data.repository`: git + DVC under one writer lock (``VersionedRepo``).
- :mod:`brain_data.service`: the spool watcher behind ``python -m brain_data``.
"""
