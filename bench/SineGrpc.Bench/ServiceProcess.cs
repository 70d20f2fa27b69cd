using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace SineGrpc.Bench;

/// <summary>The real server in a process of its own, on loopback ports, and its Prometheus metrics.</summary>
internal sealed class ServiceProcess : IDisposable
{
    private static readonly ConcurrentDictionary<ServiceProcess, byte> Running = new();
    private readonly Process _process;
    private readonly HttpClient _http = new();

    private ServiceProcess(Process process, int grpcPort, int metricsPort)
    {
        _process = process;
        GrpcAddress = $"http://127.0.0.1:{grpcPort}";
        MetricsAddress = $"http://127.0.0.1:{metricsPort}/metrics";
        Running[this] = 0;
    }

    public string GrpcAddress { get; }
    public string MetricsAddress { get; }

    /// <summary>The server process's resident memory now and at its highest so far (VmRSS and VmHWM on Linux).</summary>
    public (long Now, long Peak) ReadWorkingSet()
    {
        _process.Refresh();
        return (_process.WorkingSet64, _process.PeakWorkingSet64);
    }

    public static async Task<ServiceProcess> StartAsync(string serverDll, string embeddedCache, IEnumerable<string> extraArgs)
    {
        if (!File.Exists(serverDll))
            throw new FileNotFoundException($"server not built: {serverDll} (run: dotnet build src/SineGrpc.Server -c Release)");
        var (grpcPort, metricsPort) = FreePorts();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     serverDll,
                     $"--Kestrel:Endpoints:Grpc:Url=http://127.0.0.1:{grpcPort}",
                     $"--Kestrel:Endpoints:Metrics:Url=http://127.0.0.1:{metricsPort}",
                     $"--Engine:EmbeddedModelCache={embeddedCache}",
                     "--Engine:ModelsPath=",
                     "--Logging:LogLevel:Default=Warning",
                 }.Concat(extraArgs))
            start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server");
        // The server logs warnings and errors only (see the arguments): worth showing.
        DataReceivedEventHandler show = (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[server] {e.Data}"); };
        process.OutputDataReceived += show;
        process.ErrorDataReceived += show;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var service = new ServiceProcess(process, grpcPort, metricsPort);
        try
        {
            await service.WaitUntilServingAsync();
            RequireOneModel(embeddedCache);
        }
        catch
        {
            service.Dispose();
            throw;
        }
        return service;
    }

    // The benchmark built the embedded model with its defaults before starting the server on
    // the same cache; a server whose Engine:Embedded:* settings differ (from the environment)
    // builds another bundle beside it, and would be measured against a raw pipeline running
    // a different model.
    private static void RequireOneModel(string embeddedCache)
    {
        var bundles = Directory.GetDirectories(embeddedCache).Where(d => File.Exists(Path.Combine(d, "model.json"))).ToList();
        if (bundles.Count != 1)
        {
            throw new InvalidOperationException(
                $"the server built a model other than the benchmark's ({string.Join(", ", bundles.Select(Path.GetFileName))} in {embeddedCache}): " +
                "unset the Engine__Embedded__* environment variables");
        }
    }

    private async Task WaitUntilServingAsync()
    {
        using var channel = GrpcChannel.ForAddress(GrpcAddress);
        var health = new Health.HealthClient(channel);
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"the server exited with code {_process.ExitCode}");
            try
            {
                if ((await health.CheckAsync(new HealthCheckRequest())).Status == HealthCheckResponse.Types.ServingStatus.Serving)
                    return;
            }
            catch (Grpc.Core.RpcException)
            {
                // not listening yet
            }
            await Task.Delay(250);
        }
        throw new TimeoutException("the server did not report SERVING within 3 minutes");
    }

    /// <summary>The server's metrics now, as (name with labels) -> value.</summary>
    public async Task<Dictionary<string, double>> ScrapeAsync()
    {
        var text = await _http.GetStringAsync(MetricsAddress);
        var values = new Dictionary<string, double>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
                continue;
            var space = line.LastIndexOf(' ');
            // Lines may end with a timestamp: "name{labels} value timestamp".
            var parts = line.Split(' ');
            if (parts.Length >= 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                values[parts[0]] = value;
            else if (space > 0 && double.TryParse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                values[line[..space]] = value;
        }
        return values;
    }

    // Both listeners are held until both ports are known, so the two cannot be the same port.
    private static (int Grpc, int Metrics) FreePorts()
    {
        var grpc = new TcpListener(IPAddress.Loopback, 0);
        var metrics = new TcpListener(IPAddress.Loopback, 0);
        try
        {
            grpc.Start();
            metrics.Start();
            return (((IPEndPoint)grpc.LocalEndpoint).Port, ((IPEndPoint)metrics.LocalEndpoint).Port);
        }
        finally
        {
            grpc.Stop();
            metrics.Stop();
        }
    }

    /// <summary>
    /// Stops every server still running: for a benchmark stopped from outside (SIGTERM),
    /// whose servers would otherwise outlive it.
    /// </summary>
    public static void StopAll()
    {
        foreach (var service in Running.Keys)
            service.Stop();
    }

    private void Stop()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Running.TryRemove(this, out _);
        Stop();
        _process.Dispose();
        _http.Dispose();
    }
}
