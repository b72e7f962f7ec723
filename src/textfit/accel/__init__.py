"""The CPU speed code: cheaper training layers and faster prediction kernels, each with an off switch."""
