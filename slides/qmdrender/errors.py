"""The one exception of the renderer; its message names the file, the place and the fix."""


class RenderError(RuntimeError):
    """A deck or project file is invalid, or a cell failed while rendering."""
