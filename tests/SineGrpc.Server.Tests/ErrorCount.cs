using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using SineGrpc.Server.Hosting;

namespace SineGrpc.Server.Tests;

/// <summary>
/// Counts what one server adds to its <c>sine.errors</c> counter for one gRPC status from
/// the moment this is created: only that server's meters, since other test servers run in
/// the same process.
/// </summary>
internal sealed class ErrorCount(IServiceProvider services, string status) : ServiceCount(services, "sine.errors", ("status", status));

/// <summary>
/// Counts what one server adds to one of its service counters (with <paramref name="tag"/>,
/// when given) from the moment this is created.
/// </summary>
internal class ServiceCount : IDisposable
{
    private readonly MeterListener _listener;
    private long _value;

    public ServiceCount(IServiceProvider services, string instrumentName, (string Key, string Value)? tag = null)
    {
        var meters = services.GetRequiredService<IMeterFactory>();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == meters && instrument.Meter.Name == ServiceMetrics.MeterName && instrument.Name == instrumentName)
                    listener.EnableMeasurementEvents(instrument);
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (tag is not { } wanted)
            {
                Interlocked.Add(ref _value, value);
                return;
            }
            foreach (var t in tags)
            {
                if (t.Key == wanted.Key && Equals(t.Value, wanted.Value))
                    Interlocked.Add(ref _value, value);
            }
        });
        _listener.Start();
    }

    public long Value => Interlocked.Read(ref _value);

    public void Dispose() => _listener.Dispose();
}
