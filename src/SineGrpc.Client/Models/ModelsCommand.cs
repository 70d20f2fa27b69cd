using System.Globalization;
using SineGrpc.Client.Cli;
using Sine.V1;

namespace SineGrpc.Client.Models;

/// <summary><c>sine models</c>: the server's models as a table.</summary>
internal sealed class ModelsCommand(ModelsOptions options, TextWriter stdout)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public async Task<int> RunAsync(Segmentation.SegmentationClient client, CancellationToken cancellationToken)
    {
        var reply = await client.ListModelsAsync(new ListModelsRequest(), deadline: DateTime.UtcNow + Timeout, cancellationToken: cancellationToken);

        if (reply.Models.Count == 0)
        {
            stdout.WriteLine($"The server at {options.Server} serves no models.");
            return ExitCodes.Success;
        }
        stdout.Write(Format(reply));
        return ExitCodes.Success;
    }

    public static string Format(ListModelsResponse reply)
    {
        string[] headers = ["NAME", "VERSION", "MEMORY", "INPUT", "PAD", "STRIDE", "CHANNELS", "INSTANCES", "MAX MEMORY", "PROVIDER", "LICENSE"];
        var rows = reply.Models
            .Select(m => (IReadOnlyList<string>)
            [
                m.Name == reply.DefaultModel ? m.Name + " *" : m.Name,
                m.Version,
                m.MemoryKind,
                Number(m.InputSize),
                m.PadSize == 0 ? "-" : Number(m.PadSize),
                Number(m.FeatureStride),
                Number(m.FeatureChannels),
                m.InstanceSource,
                Number(m.MaxMemoryCapacity),
                m.ExecutionProvider,
                m.License,
            ])
            .ToList();

        var text = new System.Text.StringBuilder(TextTable.Format(headers, rows));
        if (reply.Models.Any(m => m.Name == reply.DefaultModel))
        {
            text.AppendLine("* default model");
        }
        foreach (var model in reply.Models)
        {
            text.AppendLine();
            text.AppendLine($"{model.Name}: {model.Description}");
            text.AppendLine($"  default memory: {DescribeMemory(model.DefaultMemory)}");
            if (model.MaxPromptedFrames > 0)
                text.AppendLine($"  objects prompted on at most {model.MaxPromptedFrames} different frames per stream");
        }
        if (reply.Limits is { } limits)
        {
            text.AppendLine();
            text.AppendLine(DescribeLimits(limits));
        }
        return text.ToString();
    }

    private static string DescribeLimits(ServerLimits limits)
    {
        var idle = limits.StreamIdleTimeoutSeconds == 0 ? "no idle timeout" : $"idle streams end after {Number(limits.StreamIdleTimeoutSeconds)} s";
        return FormattableString.Invariant(
            $"limits: {limits.MaxConcurrentStreams} streams, {limits.MaxObjects} objects per stream, {limits.MaxFramePixels} pixels per image, {limits.MaxMaskPixels} mask pixels per frame, {limits.MaxMessageBytes} bytes per message, {limits.MaxReferences} references per Segment call, {idle}");
    }

    private static string DescribeMemory(MemoryOptions? memory)
    {
        if (memory is null)
        {
            return "-";
        }
        var firstFrame = memory.FixFirstFrame == false ? "first frame not kept" : "first frame kept";
        var decay = memory.Decay switch
        {
            DecayType.None => "no decay",
            _ => string.Create(CultureInfo.InvariantCulture, $"linear decay over {(memory.DecayRatio > 0 ? memory.DecayRatio : 20)} frames"),
        };
        return $"{Number(memory.Capacity)} entries, {firstFrame}, {decay}";
    }

    private static string Number(uint value) => value.ToString(CultureInfo.InvariantCulture);
}
