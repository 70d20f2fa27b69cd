using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Sessions;

/// <summary>Small helpers for moving tensors in and out of ONNX Runtime without copies where possible.</summary>
internal static class OrtTensors
{
    /// <summary>Wraps (pins) managed memory as an input tensor; the memory must outlive the value.</summary>
    public static OrtValue Wrap(Memory<float> data, params long[] shape) =>
        OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, data, shape);

    public static long[] Shape(OrtValue value) => value.GetTensorTypeAndShape().Shape;

    public static ReadOnlySpan<float> Data(OrtValue value) => value.GetTensorDataAsSpan<float>();
}
