"""Every metric this project reports, each under the name of the protocol it follows.

Why one torch-free package: ``mtl-eval``, ``mtl-offline``, ``mtl-quantize`` and the demo all
score through it, so a number means the same thing whichever tool printed it. One module per
protocol family (``detection``, ``drivable``, ``lane``; ``pixels`` is their shared confusion
matrix) and ``evaluator`` aggregates frames. numpy, OpenCV and pycocotools only.
"""
