FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --create-home blinkpos && chown -R blinkpos /app
USER blinkpos
EXPOSE 8000
CMD ["gunicorn", "blinkpos.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4"]
