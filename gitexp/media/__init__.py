"""Media a script logs (images, tables, audio, video, HTML, charts): files of the run."""
