using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Onnx;

namespace SineGrpc.Engine.Models.Embedded;

/// <summary>
/// The model the service ships with nothing to download: ImageNet ResNet-18 (from the
/// Microsoft.ML.DnnImageFeaturizer.ResNet18 NuGet package) cut after layer3 as the
/// encoder, and training-free dense label propagation as the decoder. It is built
/// once into a cache folder as an ordinary dense-kind bundle.
/// </summary>
public static class EmbeddedModel
{
    public const string Name = "resnet18-lp";

    /// <summary>Bump whenever the files this class writes would change, so that caches rebuild.</summary>
    public const int BuilderVersion = 5;

    /// <summary>Written last into a finished bundle: its presence and content say the bundle is complete and current.</summary>
    public const string StampFileName = ".builder-stamp";

    /// <summary>
    /// Per-channel means, in BGR order, of the mean image that the featurizer's
    /// ResNetPreprocess.onnx subtracts (its "MeanImage" initializer averaged per channel).
    /// The network wants BGR pixels in 0..255 minus these, without scaling.
    /// </summary>
    public static readonly float[] BgrMean = [103.062624f, 115.902882f, 123.151631f];

    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Where the build copies ResNet18.onnx (see the engine's .csproj).</summary>
    public static string DefaultSourcePath => Path.Combine(AppContext.BaseDirectory, "embedded", "ResNet18.onnx");

    /// <summary>
    /// Returns the bundle folder (model.json, encoder.onnx, decoder.onnx) under
    /// <paramref name="cacheRoot"/>, building it first if it is absent or was built by
    /// another builder version or with other options.
    /// </summary>
    public static string EnsureBuilt(string cacheRoot, ILogger logger) =>
        EnsureBuilt(cacheRoot, logger, new EmbeddedModelOptions());

    public static string EnsureBuilt(string cacheRoot, ILogger logger, EmbeddedModelOptions options, string? sourcePath = null)
    {
        options.Validate();
        sourcePath ??= DefaultSourcePath;
        var stamp = Stamp(options);
        var folder = Path.Combine(cacheRoot, FolderName(stamp));
        if (IsCurrent(folder, stamp))
            return folder;

        if (!File.Exists(sourcePath))
            throw new FileNotFoundException($"The embedded model needs ResNet18.onnx (from the Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 package) at {sourcePath}", sourcePath);

        // One builder at a time across threads and processes; readers never take the
        // lock, they only ever see a finished folder because it appears by rename.
        using var buildLock = LockCacheForBuilding(cacheRoot);
        if (IsCurrent(folder, stamp))
            return folder;
        RemoveLeftovers(cacheRoot);

        logger.LogInformation("Building embedded model {Model} ({Options}) in {Folder}", Name, options, folder);
        var clock = Stopwatch.StartNew();
        var staging = Path.Combine(cacheRoot, $".{Name}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        Build(staging, options, sourcePath);
        File.WriteAllText(Path.Combine(staging, StampFileName), stamp);
        Publish(staging, folder, cacheRoot);
        logger.LogInformation("Built embedded model {Model} in {Seconds:F1} s", Name, clock.Elapsed.TotalSeconds);
        return folder;
    }

    /// <summary>Writes the three bundle files into <paramref name="folder"/> (no stamp, no atomicity).</summary>
    public static void Build(string folder, EmbeddedModelOptions options, string sourcePath)
    {
        // Opened for shared reading: OnnxSharp's ParseFromFile locks the file, and other
        // processes or caches may be building from the same source at the same time.
        ModelProto resNet;
        using (var source = File.OpenRead(sourcePath))
            resNet = ModelProto.Parser.ParseFrom(source);
        var manifest = CreateManifest(options);
        var layer2Only = options.Layer == EmbeddedModelOptions.Layer2;
        var encoder = ResNetEncoderCutter.Cut(resNet, layer2Only ? ResNetEncoderCutter.Layer2Output : ResNetEncoderCutter.Layer3Output, options.FeatureChannels);
        if (options.Layer == EmbeddedModelOptions.Layer3 && options.Stride == 8)
            ResNetEncoderCutter.RemoveStride(encoder, ResNetEncoderCutter.Layer2Output, options.Dilate);
        if (options.Layer == EmbeddedModelOptions.Layer2And3)
            ResNetEncoderCutter.ConcatenateLayer2(encoder);
        encoder.WriteToFile(Path.Combine(folder, manifest.Files.Encoder));
        LabelPropagationDecoder.Build(options.Decoder)
            .WriteToFile(Path.Combine(folder, manifest.Files.Decoder));
        LabelPropagationDecoder.Build(options.Decoder, grouped: true)
            .WriteToFile(Path.Combine(folder, manifest.Files.GroupedDecoder!));
        manifest.Write(Path.Combine(folder, "model.json"));
    }

    public static ModelManifest CreateManifest(EmbeddedModelOptions options) => new()
    {
        Name = Name,
        Version = BuilderVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Description = FormattableString.Invariant(
            $"ImageNet ResNet-18 {options.Layer} features ({options.FeatureChannels} channels, stride {options.Stride}{(options.Dilate ? ", dilated" : "")}) ") +
            $"with training-free dense label propagation: {options.Decoder}.",
        License = "MIT (ResNet-18 weights from Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1)",
        MemoryKind = MemoryKinds.Dense,
        InputSize = options.InputSize,
        PadSize = 0,
        ChannelOrder = "bgr",
        PixelScale = 1f,
        Mean = [.. BgrMean],
        Std = [1f, 1f, 1f],
        FeatureChannels = options.FeatureChannels,
        FeatureStride = options.Stride,
        MaskStride = options.Stride,
        InstanceSource = "connected-components",
        Files = new ComponentFiles { GroupedDecoder = "decoder_groups.onnx" },
        Memory = new MemoryDefaults
        {
            Capacity = options.MemoryCapacity,
            FixFirstFrame = options.FixFirstFrame,
            DecayRatio = options.DecayRatio,
        },
    };

    /// <summary>
    /// Each set of options builds into a folder of its own, so servers or evaluations with other
    /// Engine:Embedded settings that share a cache never rebuild each other's model. The
    /// defaults keep the plain name (the one the container image bakes in).
    /// </summary>
    private static string FolderName(string stamp) =>
        stamp == Stamp(new EmbeddedModelOptions())
            ? Name
            : $"{Name}-{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stamp)))[..12]}";

    private static string Stamp(EmbeddedModelOptions options) =>
        FormattableString.Invariant($"{Name} builder {BuilderVersion}; {options}\n");

    private static bool IsCurrent(string folder, string stamp)
    {
        var path = Path.Combine(folder, StampFileName);
        try
        {
            return File.Exists(path) && File.ReadAllText(path) == stamp;
        }
        catch (IOException)
        {
            return false; // replaced under our feet: treat as stale and go through the lock
        }
    }

    /// <summary>Moves the finished staging folder into place, replacing a stale bundle.</summary>
    private static void Publish(string staging, string folder, string cacheRoot)
    {
        string? retired = null;
        if (Directory.Exists(folder))
        {
            // Renaming keeps files that a running session still has open valid on Linux.
            retired = Path.Combine(cacheRoot, $".{Name}.{Guid.NewGuid():N}.old");
            Directory.Move(folder, retired);
        }
        Directory.Move(staging, folder);
        if (retired is not null)
            TryDelete(retired);
    }

    /// <summary>Staging and retired folders of builds that crashed; only called while holding the lock.</summary>
    private static void RemoveLeftovers(string cacheRoot)
    {
        foreach (var pattern in new[] { $".{Name}.*.tmp", $".{Name}.*.old" })
            foreach (var leftover in Directory.EnumerateDirectories(cacheRoot, pattern))
                TryDelete(leftover);
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // harmless: the next build removes it
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static FileStream LockCacheForBuilding(string cacheRoot)
    {
        try
        {
            Directory.CreateDirectory(cacheRoot);
            return AcquireLock(Path.Combine(cacheRoot, $".{Name}.lock"));
        }
        catch (UnauthorizedAccessException e)
        {
            // Typically a container's read-only cache, built for other settings (or by another builder version).
            throw new UnauthorizedAccessException(
                $"The embedded model cache {cacheRoot} holds no {Name} built with these settings and cannot be written ({e.Message.TrimEnd('.')}). " +
                "Point Engine:EmbeddedModelCache at a writable folder, or build the model into this one beforehand with " +
                $"`SineGrpc.Server build-embedded-model {cacheRoot}` under the same Engine:Embedded settings", e);
        }
    }

    private static FileStream AcquireLock(string path)
    {
        // FileShare.None takes an exclusive flock on Unix: it excludes other processes
        // and other handles in this process alike.
        var deadline = DateTime.UtcNow + LockTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }
        }
    }
}
