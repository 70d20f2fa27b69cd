using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tests.Models;

/// <summary>model.json's mask geometry (mask_scale, SINE's 4 cells per feature cell, or the older mask_stride) and optional inputs.</summary>
public sealed class ModelManifestTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sinegrpc-manifest-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string Write(string maskFields, string instanceSource = "model")
    {
        var path = Path.Combine(_folder, "model.json");
        File.WriteAllText(path, $$"""
            {
              "name": "sine-test", "memory_kind": "tokens", "input_size": 1036, "pad_size": 1036,
              "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
              "feature_channels": 256, "feature_stride": 14, {{maskFields}},
              "instance_source": "{{instanceSource}}",
              "files": { "encoder": "encoder.onnx", "decoder": "decoder.onnx", "pool": "pool.onnx" }
            }
            """);
        return path;
    }

    [Fact]
    public void Sine_manifest_reads_mask_scale()
    {
        var manifest = ModelManifest.Read(Write("\"mask_scale\": 4"));
        Assert.Equal(4, manifest.MaskCellsPerFeatureCell);
        Assert.Equal(InstanceSources.Model, manifest.InstanceSource);
    }

    [Fact]
    public void Older_mask_stride_still_reads_when_it_divides_the_feature_stride()
    {
        Assert.Equal(2, ModelManifest.Read(Write("\"mask_stride\": 7")).MaskCellsPerFeatureCell);
        Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"mask_stride\": 4")));
    }

    [Fact]
    public void Rejects_missing_or_contradictory_mask_geometry_and_unknown_instance_sources()
    {
        Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"version\": \"1\"")));
        Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"mask_scale\": 4, \"mask_stride\": 4")));
        Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"mask_scale\": 4", "magic")));
    }

    [Fact]
    public void Optional_inputs_are_only_those_the_service_feeds_and_for_their_kind()
    {
        Assert.Empty(ModelManifest.Read(Write("\"mask_scale\": 4")).OptionalInputs);

        var tokens = Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"mask_scale\": 4, \"optional_inputs\": [\"memory_visible\"]")));
        Assert.Contains("'memory_visible' is for dense models", tokens.Message);
        var unknown = Assert.Throws<InvalidDataException>(() => ModelManifest.Read(Write("\"mask_scale\": 4, \"optional_inputs\": [\"prompt_points\"]")));
        Assert.Contains("'prompt_points' is not an input the service can feed", unknown.Message);
    }
}
