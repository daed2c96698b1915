"""The ``docex`` command."""
