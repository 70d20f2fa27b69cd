using SineGrpc.Engine.Models;

namespace SineGrpc.Engine.Tests.Models;

/// <summary>model.json's mask geometry (mask_scale, SINE's 4 cells per feature cell, or the older mask_stride) and component files.</summary>
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
    public void A_grouped_decoder_is_for_dense_models()
    {
        Assert.Null(ModelManifest.Read(Write("\"mask_scale\": 4")).Files.GroupedDecoder);

        var path = Write("\"mask_scale\": 4");
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"pool\": \"pool.onnx\"", "\"pool\": \"pool.onnx\", \"grouped_decoder\": \"decoder_groups.onnx\""));
        var error = Assert.Throws<InvalidDataException>(() => ModelManifest.Read(path));
        Assert.Contains("files.grouped_decoder is for dense models", error.Message);
    }
}
