using Microsoft.ML.OnnxRuntime;

namespace SineGrpc.Engine.Tests;

/// <summary>Runs a session on float tensors and copies every output back.</summary>
internal static class Ort
{
    public static Dictionary<string, (float[] Data, long[] Shape)> Run(InferenceSession session,
        params (string Name, float[] Data, long[] Shape)[] inputs)
    {
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Data, i.Shape)).ToArray();
        try
        {
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, session.OutputNames);
            return session.OutputNames.Zip(outputs).ToDictionary(
                pair => pair.First,
                pair => (pair.Second.GetTensorDataAsSpan<float>().ToArray(), pair.Second.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            foreach (var value in values)
                value.Dispose();
        }
    }
}
