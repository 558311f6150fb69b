//! ceilo's own settings and the loaders for Ceilometer's YAML definition files.
