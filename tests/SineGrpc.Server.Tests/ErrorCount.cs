using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Counts what one server adds to its <c>sine.errors</c> counter for one gRPC status from
/// the moment this is created: only that server's meters, since other test servers run in
/// the same process.
/// </summary>
internal sealed class ErrorCount : IDisposable
{
    private readonly MeterListener _listener;
    private long _value;

    public ErrorCount(IServiceProvider services, string status)
    {
        var meters = services.GetRequiredService<IMeterFactory>();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Meter.Name == ServiceMetrics.MeterName && instrument.Name == "sine.errors")
                    listener.EnableMeasurementEvents(instrument);
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "status" && Equals(tag.Value, status))
                    Interlocked.Add(ref _value, value);
            }
        });
        _listener.Start();
    }

    public long Value => Interlocked.Read(ref _value);

    public void Dispose() => _listener.Dispose();
}
