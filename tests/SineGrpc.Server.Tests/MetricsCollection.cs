namespace SineGrpc.Server.Tests;

/// <summary>
/// Tests that read a server's Prometheus endpoint. Every test server runs in this one
/// process, and each server's OpenTelemetry provider listens to every meter named
/// "SineGrpc", its own and the others'. When a server stops, its meters are disposed, and
/// OpenTelemetry then stops the metric streams of every meter of that name in every
/// provider (open-telemetry/opentelemetry-dotnet#6412), so a server that outlives another
/// exports no sine_* series from then on. A real pod runs one server and never sees this.
/// These tests therefore run after the parallel collections, one at a time, each on a
/// server of its own started after every other test server has stopped.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MetricsCollection
{
    public const string Name = "metrics";
}
